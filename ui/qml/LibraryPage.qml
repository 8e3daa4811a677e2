// The model library: the folders Nibble looks in (add, remove, rescan) and every model it
// remembers, with Load (through the model card) and Forget.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import QtQuick.Dialogs

Pane {
    id: page
    property var library: null
    property var settings: null
    property var engine: null
    signal loadRequested(string path)
    signal closeRequested()

    background: Rectangle { color: palette.base }

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: 8
        spacing: 10

        RowLayout {
            Layout.fillWidth: true
            Label {
                Layout.fillWidth: true
                text: qsTr("Model library")
                font.pointSize: Qt.application.font.pointSize * 1.4
                font.bold: true
                Accessible.name: text
            }
            Button {
                text: qsTr("Add folder…")
                Accessible.name: qsTr("Add a library folder")
                onClicked: rootDialog.open()
            }
            Button {
                text: page.library && page.library.scanning ? qsTr("Scanning…") : qsTr("Rescan")
                enabled: page.library && !page.library.scanning
                Accessible.name: qsTr("Rescan library folders")
                onClicked: page.library.rescan()
            }
            Button {
                text: qsTr("Back to chat")
                Accessible.name: qsTr("Back to chat")
                onClicked: page.closeRequested()
            }
        }

        Label {
            text: qsTr("Library folders")
            font.bold: true
            Accessible.name: text
        }
        Label {
            visible: page.settings && page.settings.modelRoots.length === 0
            text: qsTr("No folders yet. Add the folders where you keep models; Nibble finds every model folder up to three levels down.")
            wrapMode: Text.Wrap
            Layout.fillWidth: true
            opacity: 0.7
            Accessible.name: text
        }
        Repeater {
            model: page.settings ? page.settings.modelRoots : []
            delegate: RowLayout {
                required property string modelData
                Layout.fillWidth: true
                Label { Layout.fillWidth: true; text: modelData; elide: Text.ElideMiddle; Accessible.name: text }
                SmallButton {
                    text: qsTr("Remove")
                    accessibleName: qsTr("Remove library folder %1").arg(modelData)
                    onClicked: page.settings.removeModelRoot(modelData)
                }
            }
        }
        Repeater {
            model: page.library ? page.library.scanFailures : []
            delegate: Label {
                required property string modelData
                Layout.fillWidth: true
                text: qsTr("Skipped: %1").arg(modelData)
                wrapMode: Text.Wrap
                opacity: 0.7
                Accessible.name: text
            }
        }

        Label {
            text: qsTr("Models")
            font.bold: true
            Accessible.name: text
        }
        ListView {
            id: models
            Layout.fillWidth: true
            Layout.fillHeight: true
            clip: true
            spacing: 6
            model: page.library
            Accessible.role: Accessible.List
            Accessible.name: qsTr("Models in the library")
            ScrollBar.vertical: ScrollBar { Accessible.name: qsTr("Scroll models") }
            delegate: LibraryModelDelegate {
                width: models.width
                loaded: page.engine ? path === page.engine.modelPath : false
                onLoadRequested: page.loadRequested(path)
                onForgetRequested: page.library.remove(modelId)
            }
            Label {
                anchors.centerIn: parent
                visible: models.count === 0
                text: qsTr("Models you load or find by a rescan appear here.")
                opacity: 0.7
                Accessible.name: text
            }
        }
    }

    FolderDialog {
        id: rootDialog
        title: qsTr("Add a library folder")
        onAccepted: { page.settings.addModelRoot(selectedFolder.toString()); page.library.rescan() }
    }
}
