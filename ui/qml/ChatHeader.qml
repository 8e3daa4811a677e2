// Above the messages: the conversation's title, its sampling preset and a button for its system
// prompt and presets (ChatSettingsDialog).
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

ToolBar {
    id: header
    property var chat: null
    property var presets: null
    Accessible.name: qsTr("Conversation toolbar")

    background: Rectangle {
        color: palette.window
        Rectangle { anchors.bottom: parent.bottom; width: parent.width; height: 1; color: palette.mid }
    }

    RowLayout {
        anchors.fill: parent
        anchors.leftMargin: 12
        anchors.rightMargin: 8
        spacing: 8
        Label {
            Layout.fillWidth: true
            text: header.chat && header.chat.title.length > 0 ? header.chat.title : qsTr("New chat")
            elide: Text.ElideRight
            font.bold: true
            Accessible.name: qsTr("Conversation title: %1").arg(text)
        }
        Label {
            text: qsTr("Preset:")
            Accessible.name: text
        }
        ComboBox {
            id: presetBox
            model: header.presets
            textRole: "name"
            currentIndex: header.presets && header.chat ? header.presets.indexOf(header.chat.presetName) : -1
            implicitContentWidthPolicy: ComboBox.WidestText
            Accessible.name: qsTr("Sampling preset")
            onActivated: (index) => header.chat.presetName = textAt(index)
        }
        Button {
            text: header.chat && header.chat.systemPrompt.length > 0 ? qsTr("System prompt ✓") : qsTr("System prompt")
            Accessible.name: qsTr("System prompt and presets")
            onClicked: settingsDialog.open()
        }
    }

    ChatSettingsDialog {
        id: settingsDialog
        chat: header.chat
        presets: header.presets
    }
}
