// Shows an error by kind: what happened, the fix to try, and the engine's own message (which
// names the file or setting) with a Copy button.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Dialog {
    id: dialog
    property var error: ({})
    modal: true
    padding: 16
    width: Math.min(Overlay.overlay ? Overlay.overlay.width - 32 : 10000, fm.averageCharacterWidth * 84 + leftPadding + rightPadding)
    anchors.centerIn: Overlay.overlay
    title: error && error.title ? error.title : qsTr("Error")
    standardButtons: Dialog.Ok

    function show(e) { error = e; open() }

    ColumnLayout {
        width: dialog.availableWidth
        spacing: 10
        Label {
            Layout.fillWidth: true
            text: qsTr("What to try")
            font.bold: true
            Accessible.name: text
        }
        Label {
            Layout.fillWidth: true
            wrapMode: Text.Wrap
            text: dialog.error.fix || ""
            Accessible.name: qsTr("Fix: %1").arg(text)
        }
        Label {
            Layout.fillWidth: true
            text: qsTr("Details (%1)").arg(dialog.error.kindName || "")
            font.bold: true
            Accessible.name: text
        }
        TextArea {
            id: details
            Layout.fillWidth: true
            readOnly: true
            wrapMode: TextEdit.WrapAtWordBoundaryOrAnywhere
            selectByMouse: true
            text: dialog.error.message || ""
            font.family: "monospace"
            Accessible.name: qsTr("Error details")
        }
        Button {
            Layout.alignment: Qt.AlignRight
            text: qsTr("Copy details")
            Accessible.name: qsTr("Copy error details")
            onClicked: { details.selectAll(); details.copy(); details.deselect() }
        }
    }
    FontMetrics { id: fm }
}
