// One conversation in the sidebar: title (and a search snippet), a pin mark, and a menu with
// Rename, Pin/Unpin and Move to trash. Emits requests; Sidebar acts on them.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

ItemDelegate {
    id: item
    required property var conversationId
    required property string title
    required property bool pinned
    required property string snippet
    property bool current: false
    signal chosen()
    signal renameRequested()
    signal pinToggled()
    signal trashRequested()

    highlighted: current
    padding: 6
    Accessible.name: pinned ? qsTr("%1 (pinned)").arg(title) : title
    onClicked: chosen()
    onDoubleClicked: renameRequested()
    onPressAndHold: menu.popup()

    contentItem: RowLayout {
        spacing: 4
        ColumnLayout {
            Layout.fillWidth: true
            spacing: 0
            Label {
                Layout.fillWidth: true
                text: (item.pinned ? "★ " : "") + item.title
                elide: Text.ElideRight
                font.bold: item.current
                color: item.highlighted ? palette.highlightedText : palette.windowText
                Accessible.name: item.title
            }
            Label {
                Layout.fillWidth: true
                visible: item.snippet.length > 0
                text: item.snippet
                textFormat: Text.StyledText
                elide: Text.ElideRight
                maximumLineCount: 2
                wrapMode: Text.Wrap
                opacity: 0.75
                font.pointSize: Qt.application.font.pointSize * 0.9
                color: item.highlighted ? palette.highlightedText : palette.windowText
                Accessible.name: qsTr("Matching text")
            }
        }
        ToolButton {
            text: "⋯"
            visible: item.hovered || item.current || menu.visible
            Accessible.name: qsTr("Actions for %1").arg(item.title)
            onClicked: menu.popup()
        }
    }

    TapHandler {
        acceptedButtons: Qt.RightButton
        onTapped: menu.popup()
    }

    Menu {
        id: menu
        MenuItem { text: qsTr("Rename…"); Accessible.name: text; onTriggered: item.renameRequested() }
        MenuItem { text: item.pinned ? qsTr("Unpin") : qsTr("Pin"); Accessible.name: text; onTriggered: item.pinToggled() }
        MenuItem { text: qsTr("Move to trash"); Accessible.name: text; onTriggered: item.trashRequested() }
    }
}
